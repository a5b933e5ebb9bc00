"""Builds the package with its gRPC stubs, generated from proto/ by protoc and Debian's
grpc_python_plugin at build time (nothing generated is committed)."""

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
PROTO_ROOT = HERE.parent.parent / "proto"
PROTOS = ["job.proto", "client.proto", "operator.proto"]


def generate_stubs(out_dir: Path) -> None:
    plugin = shutil.which("grpc_python_plugin")
    if plugin is None:
        raise RuntimeError("grpc_python_plugin not found: install protobuf-compiler-grpc")
    package = out_dir / "tributary" / "v1"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text('"""Generated gRPC stubs of tributary.v1."""\n')
    subprocess.run(
        ["protoc", f"--proto_path={PROTO_ROOT}", f"--python_out={out_dir}",
         f"--grpc_out={out_dir}", f"--plugin=protoc-gen-grpc={plugin}"]
        + [str(PROTO_ROOT / "tributary" / "v1" / p) for p in PROTOS],
        check=True)


class BuildWithStubs(build_py):
    def run(self):
        super().run()
        generate_stubs(Path(self.build_lib))


if __name__ == "__main__":
    os.chdir(HERE)
    setup(cmdclass={"build_py": BuildWithStubs})
