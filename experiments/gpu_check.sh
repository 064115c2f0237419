#!/usr/bin/env bash
# The checks for a lent GPU machine, in one call: the card, the test suite, the
# throughput benchmark against PyTorch, 50,000 DANN steps, the default experiment
# over 3 seeds, and the moons toy. The machine has jax, flax, optax, torch,
# scikit-learn, scikit-image, matplotlib and hypothesis but no network:
# ml_collections travels as a wheel in .whl/.
#   bash experiments/gpu_check.sh OUT_DIR
set -uo pipefail
out=${1:?usage: gpu_check.sh OUT_DIR}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH="$PWD:/tmp/site" PYTHONUNBUFFERED=1
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c "import jax, flax, optax, torch; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'torch', torch.__version__, jax.devices())"
} | tee "$out/machine.txt"
python3 experiments/benchmark.py --batch_sizes=128,1024 --steps=500 --repeats=5 \
  --output="$out" 2>&1 | grep -v "^I11" | tail -14
/usr/bin/time -f "dann, 50000 steps of 64 + 64: %e s wall (command)" python3 -m dann_jax.cli \
  train --noprogress --config.method=dann --config.steps=50000 --config.log_every=5000 \
  --config.steps_per_dispatch=5000 --workdir=/tmp/long 2>&1 | tail -4 | tee "$out/long_run.txt"
python3 experiments/reproduce.py --seeds=0,1,2 --results="$out" --runs=/tmp/runs 2>&1 | tail -9
python3 -m dann_jax.cli train --noprogress --config=experiments/configs/moons.py \
  --workdir=/tmp/moons 2>&1 | tail -5 | tee "$out/moons.txt"
python3 -m pytest -q -p no:cacheprovider tests 2>&1 | tail -4 | tee "$out/pytest.txt"
