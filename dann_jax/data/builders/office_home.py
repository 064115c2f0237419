"""Office-Home as the TFDS dataset ``office_home``, one config per domain, from its archive.

Office-Home (Venkateswara et al., CVPR 2017): 15,588 images of 65 kinds of objects found in
offices and homes, in four domains, the configs ``art`` (2,427 sketches, paintings and other
artistic depictions), ``clipart`` (4,365 clipart images), ``product`` (4,439 product images
without background) and ``real_world`` (4,357 photos taken with a camera). It has no stable
public download address, so this builder reads the authors' archive
``OfficeHomeDataset_10072016.zip`` from the manual dir, unchanged or unzipped there:
``OfficeHomeDataset_10072016/<Domain>/<Class>/XXXXX.jpg``, the domain folders ``Art``,
``Clipart``, ``Product`` and ``Real World``. The labels are the class folders' names, sorted
(the same 65 in every domain).

As for Office-31 (:mod:`dann_jax.data.builders.office31`, whose reading this builder shares):
each domain is one split, ``train``, the whole domain (the transductive Office protocol); images
keep their full, varying sizes, each decoded to check it; ``file_name`` is the image's path
inside the archive. Corrupt images are an error, not skipped: after reading the whole domain,
one error names every corrupt file and nothing is prepared, since a domain quietly smaller than
the official one would give accuracies that cannot be compared with published ones, and a
corrupt file means a damaged download or extraction, which a fresh copy of the archive mends.
"""

from __future__ import annotations

from typing import ClassVar

from dann_jax.data.builders import common

ARCHIVE = "OfficeHomeDataset_10072016.zip"
ROOT = "OfficeHomeDataset_10072016"
HOMEPAGE = "https://www.hemanthdv.org/officeHomeDataset.html"
CLASS_NAMES = (
    "Alarm_Clock",
    "Backpack",
    "Batteries",
    "Bed",
    "Bike",
    "Bottle",
    "Bucket",
    "Calculator",
    "Calendar",
    "Candles",
    "Chair",
    "Clipboards",
    "Computer",
    "Couch",
    "Curtains",
    "Desk_Lamp",
    "Drill",
    "Eraser",
    "Exit_Sign",
    "Fan",
    "File_Cabinet",
    "Flipflops",
    "Flowers",
    "Folder",
    "Fork",
    "Glasses",
    "Hammer",
    "Helmet",
    "Kettle",
    "Keyboard",
    "Knives",
    "Lamp_Shade",
    "Laptop",
    "Marker",
    "Monitor",
    "Mop",
    "Mouse",
    "Mug",
    "Notebook",
    "Oven",
    "Pan",
    "Paper_Clip",
    "Pen",
    "Pencil",
    "Postit_Notes",
    "Printer",
    "Push_Pin",
    "Radio",
    "Refrigerator",
    "Ruler",
    "Scissors",
    "Screwdriver",
    "Shelf",
    "Sink",
    "Sneakers",
    "Soda",
    "Speaker",
    "Spoon",
    "TV",
    "Table",
    "Telephone",
    "ToothBrush",
    "Toys",
    "Trash_Can",
    "Webcam",
)
MANUAL_DOWNLOAD_INSTRUCTIONS = (
    f"Office-Home has no public download address: download {ARCHIVE} by hand (linked from "
    f"the Office-Home page {HOMEPAGE}) and put it, unchanged or unzipped (a folder {ROOT}/), "
    "in the manual dir (`dann prepare office_home/art --manual_dir DIR`)."
)

_CITATION = """\
@inproceedings{venkateswara2017deep,
  title={Deep Hashing Network for Unsupervised Domain Adaptation},
  author={Venkateswara, Hemanth and Eusebio, Jose and Chakraborty, Shayok and
          Panchanathan, Sethuraman},
  booktitle={IEEE Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages={5018--5027},
  year={2017}
}"""
DESCRIPTION = __doc__  # the module's, which the class body cannot name

CONFIGS = (
    common.DomainConfig(
        name="art",
        description="Art: 2,427 sketches, paintings and other artistic depictions.",
        folder="Art",
        num_images=2_427,
    ),
    common.DomainConfig(
        name="clipart",
        description="Clipart: 4,365 clipart images.",
        folder="Clipart",
        num_images=4_365,
    ),
    common.DomainConfig(
        name="product",
        description="Product: 4,439 product images without background.",
        folder="Product",
        num_images=4_439,
    ),
    common.DomainConfig(
        name="real_world",
        description="Real World: 4,357 photos taken with a camera.",
        folder="Real World",
        num_images=4_357,
    ),
)


class OfficeHome(common.DomainFoldersBuilder):
    """Office-Home: 65 object classes in 4 domains, full-size images, from the manual dir."""

    BUILDER_CONFIGS: ClassVar[list[common.DomainConfig]] = list(CONFIGS)
    MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS
    ARCHIVE = ARCHIVE
    DOMAIN_FOLDER = ROOT + "/{folder}"
    CLASS_NAMES = CLASS_NAMES
    HOMEPAGE = HOMEPAGE
    CITATION = _CITATION
    DESCRIPTION = DESCRIPTION


has_source = OfficeHome.has_source
