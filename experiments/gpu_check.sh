#!/usr/bin/env bash
# The checks for a lent GPU machine, in one call: the card, the test suite, the
# default experiment over 3 seeds, a long DANN run for steps/s, and the moons toy.
# The machine has jax, flax, optax, scikit-learn, scikit-image, matplotlib and
# hypothesis but no network: ml_collections travels as a wheel in .whl/.
#   bash experiments/gpu_check.sh OUT_DIR
set -uo pipefail
out=${1:?usage: gpu_check.sh OUT_DIR}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH="$PWD:/tmp/site" PYTHONUNBUFFERED=1
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c "import jax, flax, optax; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, jax.devices())"
} | tee "$out/machine.txt"
python3 -m pytest -q -p no:cacheprovider tests 2>&1 | tail -12 | tee "$out/pytest.txt"
python3 experiments/reproduce.py --seeds=0,1,2 --results="$out" --runs=/tmp/runs 2>&1 | tail -12
/usr/bin/time -f "dann 20000 steps: %e s wall" python3 -m dann_jax.cli train --noprogress \
  --config.method=dann --config.steps=20000 --config.log_every=1000 --workdir=/tmp/long 2>&1 \
  | tail -4 | tee "$out/long_run.txt"
python3 -m dann_jax.cli train --noprogress --config=experiments/configs/moons.py \
  --workdir=/tmp/moons 2>&1 | tail -5 | tee "$out/moons.txt"
