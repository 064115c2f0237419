#!/usr/bin/env bash
# The checks for a lent GPU machine, in one call: the card, the forms of the
# on-device step (experiments/step_variants.py, also under XLA flags), the
# throughput benchmark against PyTorch, many runs in one program (1, 4, 16; and 16
# seeds of the default experiment against one), 50,000 DANN steps, the default
# experiment over 3 seeds, the moons toy and the tests that need no TensorFlow.
# The machine has jax, flax, optax, orbax, torch, scikit-learn, matplotlib and
# hypothesis but no network: the rest travel as Python 3.12 wheels in .whl/
# (ignored by git), fetched beforehand on a machine with pip:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
#     -d .whl grain==0.2.18 array_record==0.8.6 tensorflow-datasets==4.9.10 \
#     ml_collections==1.1.0 tensorboardX==2.6.5 importlib_resources==7.1.0 dm-tree==0.1.10 \
#     immutabledict==4.3.1 simple-parsing==0.1.9 docstring_parser==0.18.0 termcolor==3.3.0 \
#     toml==0.10.2 tensorflow-metadata==1.21.0 googleapis-common-protos==1.76.0 portpicker
#   pip wheel --no-deps promise==2.3 -w .whl    # an sdist only: build its wheel
#   bash experiments/gpu_check.sh OUT_DIR
# Everything lands in OUT_DIR/log.txt and, packed after every part,
# OUT_DIR/results.tgz, so a run stopped at its time limit still returns its parts.
set -uo pipefail
out=${1:?usage: gpu_check.sh OUT_DIR}
results=/tmp/gpu_results
mkdir -p "$out" "$results"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH="$PWD:/tmp/site" PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
exec > >(tee "$out/log.txt") 2>&1
pack() { tar czf "$out/results.tgz" -C "$results" .; }
part() { echo "=== $1 ($(date +%T))"; }

part machine
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import jax, flax, optax, torch, grain; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'torch', torch.__version__, 'grain', grain.__version__, jax.devices())"

part "step variants, 64 + 64"
timeout 180 python3 experiments/step_variants.py --steps=1000 --repeats=3 \
  --variants=default,two-pass,unroll-4,unroll-16,patch-conv,s2d-conv,flax-pool \
  --output="$results/variants"
part "step variants, 64 + 64, while loops in CUDA graphs"
XLA_FLAGS="--xla_gpu_enable_command_buffer=+WHILE,+CONDITIONAL" timeout 60 python3 \
  experiments/step_variants.py --steps=1000 --repeats=3 --variants=one-pass,unroll-4 \
  --output="$results/variants-command-buffer"
part "step variants, 512 + 512"
timeout 60 python3 experiments/step_variants.py --batch_size=1024 --steps=500 --repeats=3 \
  --variants=two-pass,one-pass --output="$results/variants-1024"
pack

part benchmark
timeout 150 python3 experiments/benchmark.py --batch_sizes=128,1024 --steps=500 --repeats=5 \
  --output="$results" | grep -v "^I11"
pack

part "many runs in one program, 64 + 64"
timeout 120 python3 experiments/benchmark.py --batch_sizes=128 --implementations=jax-device \
  --members=1,4,16 --steps=500 --repeats=3 --output="$results/members" | grep -v "^I12"
pack

part "16 seeds of the default experiment in one program, against one seed"
timeout 240 python3 experiments/reproduce.py --seeds=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15 --vmap \
  --results="$results/vmap16" --runs=/tmp/runs16
timeout 100 python3 experiments/reproduce.py --seeds=0 --results="$results/seed0" --runs=/tmp/runs1
pack

part "50,000 DANN steps of 64 + 64"
/usr/bin/time -f "dann, 50000 steps of 64 + 64: %e s wall (command)" timeout 120 python3 -m \
  dann_jax.cli train --noprogress --config.method=dann --config.steps=50000 \
  --config.log_every=5000 --config.steps_per_dispatch=5000 --workdir=/tmp/long 2>&1 | tail -4
cp /tmp/long/results.json "$results/long_run.json"; cp /tmp/long/wall_times.json "$results/long_run_wall_times.json"
pack

part "default experiment, seeds 0, 1, 2"
timeout 150 python3 experiments/reproduce.py --seeds=0,1,2 --results="$results" --runs=/tmp/runs \
  2>&1 | tail -9
pack

part moons
timeout 60 python3 -m dann_jax.cli train --noprogress --config=moons \
  --workdir=/tmp/moons 2>&1 | tail -5

part tests
timeout 90 python3 -m pytest -q -p no:cacheprovider tests/test_grl.py tests/core/test_layers.py \
  tests/test_models.py 2>&1 | tail -4
pack
part done
