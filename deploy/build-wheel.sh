#!/bin/sh
# Builds the wheel the container image installs: the Dockerfile's build stage runs this, and so
# does tests/e2e/test_wheel_install.py, so the wheel tested here is made as the image's is.
#
# The gRPC code (tarif/charging/v1/*_pb2*.py) is git-ignored and generated from proto/ first, as
# `make proto` does; the wheel is then checked to carry it.
#
# usage: deploy/build-wheel.sh OUT_DIR
#   PYTHON  an interpreter with pip and grpcio-tools (default: python3)
set -eu

out=${1:?usage: deploy/build-wheel.sh OUT_DIR}
case $out in /*) ;; *) out=$PWD/$out ;; esac
python=${PYTHON:-python3}
cd "$(dirname "$0")/.."

# shellcheck disable=SC2046  # proto paths have no spaces
"$python" -m grpc_tools.protoc -I proto --python_out=. --grpc_python_out=. $(find proto -name '*.proto')
rm -rf build  # a build/lib left from an earlier build would carry deleted modules into the wheel
"$python" -m pip wheel --quiet --no-deps --wheel-dir "$out" .

"$python" - "$out" <<'CHECK'
import sys, zipfile
from pathlib import Path

wheels = sorted(Path(sys.argv[1]).glob("tarif-*.whl"))
assert wheels, f"no tarif wheel in {sys.argv[1]}"
names = set(zipfile.ZipFile(wheels[-1]).namelist())
wanted = ["tarif/charging/v1/charging_pb2.py", "tarif/charging/v1/charging_pb2_grpc.py",
          "tarif_cli/demo.yaml"]
missing = [name for name in wanted if name not in names]
assert not missing, f"{wheels[-1].name} lacks {missing}"
print(wheels[-1])
CHECK
