"""Office-31 as the TFDS dataset ``office31``, one config per domain, from its archive (manual).

Office-31 (Saenko et al., ECCV 2010): 4,110 images of 31 kinds of office objects in three
domains, the configs ``amazon`` (2,817 product images from amazon.com), ``dslr`` (498 photos
taken with a digital SLR camera) and ``webcam`` (795 low-resolution photos taken with a web
camera). It has no stable public download address (the Office-31 page links a Google Drive
file), so this builder reads the authors' archive ``domain_adaptation_images.tar.gz`` from the
manual dir, unchanged or extracted there: ``<domain>/images/<class>/frame_XXXX.jpg``. The labels
are the class folders' names, sorted.

Each domain is one split, ``train``, the whole domain: the standard (transductive) Office
protocol trains on the labelled source domain and the unlabelled target domain, and evaluates on
the whole target domain. Images keep their full, varying sizes (resizing is the input
pipeline's job). Each is decoded to check it; an RGB JPEG is stored as the archive's bytes,
anything else (greyscale, CMYK, PNG) converted to RGB and stored as PNG. ``file_name`` is the
image's path inside the archive.

Corrupt images (ones Pillow cannot decode) are an error, not skipped: after reading the whole
domain, one error names every corrupt file and nothing is prepared. A domain quietly smaller
than the official one would give accuracies that cannot be compared with published ones, and a
corrupt file means a damaged download or extraction, which a fresh copy of the archive mends.
A domain whose image count differs from the official one is prepared with a warning.
"""

from __future__ import annotations

from typing import ClassVar

from dann_jax.data.builders import common

ARCHIVE = "domain_adaptation_images.tar.gz"
IMAGES = "images"  # The folder of class folders inside each domain's folder.
HOMEPAGE = "https://faculty.cc.gatech.edu/~judy/domainadapt/"
CLASS_NAMES = (
    "back_pack",
    "bike",
    "bike_helmet",
    "bookcase",
    "bottle",
    "calculator",
    "desk_chair",
    "desk_lamp",
    "desktop_computer",
    "file_cabinet",
    "headphones",
    "keyboard",
    "laptop_computer",
    "letter_tray",
    "mobile_phone",
    "monitor",
    "mouse",
    "mug",
    "paper_notebook",
    "pen",
    "phone",
    "printer",
    "projector",
    "punchers",
    "ring_binder",
    "ruler",
    "scissors",
    "speaker",
    "stapler",
    "tape_dispenser",
    "trash_can",
)
MANUAL_DOWNLOAD_INSTRUCTIONS = (
    f"Office-31 has no public download address: download {ARCHIVE} by hand (a Google Drive "
    f"link on the Office-31 page {HOMEPAGE}) and put it, unchanged or extracted (its folders "
    "amazon/, dslr/ and webcam/), in the manual dir "
    "(`dann prepare office31/amazon --manual_dir DIR`)."
)

_CITATION = """\
@inproceedings{saenko2010adapting,
  title={Adapting Visual Category Models to New Domains},
  author={Saenko, Kate and Kulis, Brian and Fritz, Mario and Darrell, Trevor},
  booktitle={European Conference on Computer Vision (ECCV)},
  pages={213--226},
  year={2010}
}"""

DESCRIPTION = __doc__  # the module's, which the class body cannot name

CONFIGS = (
    common.DomainConfig(
        name="amazon",
        description="Amazon: 2,817 product images from amazon.com.",
        folder="amazon",
        num_images=2_817,
    ),
    common.DomainConfig(
        name="dslr",
        description="DSLR: 498 photos taken with a digital SLR camera.",
        folder="dslr",
        num_images=498,
    ),
    common.DomainConfig(
        name="webcam",
        description="Webcam: 795 low-resolution photos taken with a web camera.",
        folder="webcam",
        num_images=795,
    ),
)


class Office31(common.DomainFoldersBuilder):
    """Office-31: 31 office object classes in 3 domains, full-size images, from the manual dir."""

    BUILDER_CONFIGS: ClassVar[list[common.DomainConfig]] = list(CONFIGS)
    MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS
    ARCHIVE = ARCHIVE
    DOMAIN_FOLDER = "{folder}/" + IMAGES
    CLASS_NAMES = CLASS_NAMES
    HOMEPAGE = HOMEPAGE
    CITATION = _CITATION
    DESCRIPTION = DESCRIPTION


has_source = Office31.has_source
