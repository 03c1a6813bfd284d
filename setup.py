"""Build hook: the data sets in ``data/`` become package data (``dynconv/shipped_data/``).

Everything else about the package is declared in ``setup.cfg``. The data stay at the repository
root, where a source checkout finds them; a wheel (``pip install .``) carries a copy so that an
installed dynconv finds them too (:func:`dynconv.sr.datasets.shipped_data_dir`).
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "data"
#: What ships: the checksums, the README and the three sets.
SHIPPED = ("SHA256SUMS", "README.md", "T91", "Set5", "Set14")


class build_py_with_data(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads data/ in place
        target = Path(self.build_lib) / "dynconv" / "shipped_data"
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for name in SHIPPED:
            src = DATA / name
            if src.is_dir():
                shutil.copytree(src, target / name)
            else:
                shutil.copy2(src, target / name)


setup(cmdclass={"build_py": build_py_with_data})
