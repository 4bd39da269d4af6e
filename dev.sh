#!/usr/bin/env bash
# cohortaudit's two commands (see README):
#   ./dev.sh up     set everything up and run the main job on the bundled sample
#   ./dev.sh test   set everything up, lint (ruff check), and run the whole test suite (what CI
#                   runs); pytest arguments pass through: ./dev.sh test -m "not slow and not browser"
# Setup is idempotent: system packages are installed only when missing, the virtual
# environment is rebuilt only when requirements.lock or pyproject.toml change.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
PY=${PYTHON:-python3}
VENV=.venv

system_packages() {
  local need=()
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
  # the audit-registry tests start their own PostgreSQL server (initdb + pg_ctl)
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
  [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
  if [ ${#need[@]} -gt 0 ]; then
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    echo "Installing system packages: ${need[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
  fi
}

python_env() {
  local stamp=$VENV/.setup-stamp want
  want=$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)
  [ -x $VENV/bin/python ] || $PY -m venv $VENV
  if [ "$(cat $stamp 2>/dev/null)" != "$want" ]; then
    echo "Installing Python packages (pinned in requirements.lock)..." >&2
    $VENV/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
    $VENV/bin/python -m pip install -q --disable-pip-version-check -r requirements.lock
    $VENV/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
    echo "$want" > $stamp
  fi
}

# The test-only oracle venv (.venv-oracle: scikit-survival + lifelines, whose pins conflict with
# ours) for the survival tests; rebuilt only when tests/survival/oracle-requirements.txt changes.
# A failed build does not stop the suite here: under CI those tests then fail with the reason.
oracle_env() {
  $VENV/bin/python tests/survival/survival_oracle.py >/dev/null \
    || echo "warning: the survival oracle venv could not be built (see above)" >&2
}

setup() { system_packages; python_env; }

case "${1:-}" in
  up)
    setup
    if [ -f app/streamlit_app.py ]; then
      exec $VENV/bin/streamlit run app/streamlit_app.py
    fi
    exec $VENV/bin/cohortaudit audit --model sample_data/model.onnx --card sample_data/model.card.yaml \
      --cohort sample_data/cohort.csv --label cvd_10y \
      --sensitive sex age ethnicity deprivation site --bins age=40,50,60,70,80 \
      --max-order 2 --out out/sample
    ;;
  test)
    setup
    oracle_env
    shift
    # setup installed chromium, so a browser still missing is a failure, not a skip
    export CI="${CI:-1}"
    # Lint first: a style error fails in seconds, not after the ten-minute suite.
    $VENV/bin/ruff check src tests app
    # --durations shows where the suite's time goes; the user's own arguments come after it
    # (a later --durations=N wins), e.g. ./dev.sh test -m "not slow and not browser".
    exec $VENV/bin/python -m pytest --durations=15 "$@"
    ;;
  *)
    echo "usage: ./dev.sh up | ./dev.sh test [pytest args]" >&2
    exit 2
    ;;
esac
