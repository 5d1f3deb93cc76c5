"""The package builds from its pyproject.toml with the setuptools the machine has (an sdist
needs no wheel package and no index)."""

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unittest

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class PackageTest(unittest.TestCase):
    def test_sdist_holds_the_module_its_types_marker_and_metadata(self):
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "src")
            shutil.copytree(HERE, src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist"))
            out = os.path.join(tmp, "dist")
            os.mkdir(out)
            name = subprocess.run(
                [sys.executable, "-c", f"import setuptools.build_meta as b; print(b.build_sdist({out!r}))"],
                cwd=src, check=True, capture_output=True, text=True,
            ).stdout.strip().splitlines()[-1]
            with tarfile.open(os.path.join(out, name)) as tar:
                names = tar.getnames()
                root = name[: -len(".tar.gz")]
                pkg_info = tar.extractfile(f"{root}/PKG-INFO").read().decode()
                requires = tar.extractfile(f"{root}/src/keyrotor_credentials.egg-info/requires.txt").read().decode()
        self.assertEqual(name, "keyrotor-credentials-0.1.0.tar.gz")
        for want in ("src/keyrotor_credentials/__init__.py", "src/keyrotor_credentials/py.typed"):
            self.assertTrue(any(n.endswith(want) for n in names), f"{want} not in {names}")
        self.assertIn("Name: keyrotor-credentials", pkg_info)
        self.assertEqual(requires.split(), ["boto3>=1.34", "botocore>=1.34"])


if __name__ == "__main__":
    unittest.main()
