"""ament_python build of dtd_ik: runtime package ``dtd_ik`` and its offline ``dtd_ik.training``."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "dtd_ik"


def share(folder: str, pattern: str = "*") -> tuple[str, list[str]]:
    """data_files entry installing ``folder/pattern`` under share/dtd_ik/folder."""
    return (f"share/{PACKAGE}/{folder}", [p for p in glob(f"{folder}/{pattern}") if "." in p])


setup(
    name=PACKAGE,
    version="0.1.0",
    # The training pipeline lives in the top-level folder training/ (design card) and is
    # importable as dtd_ik.training through the symlink dtd_ik/training -> ../training, so it
    # never shadows another "training" package and colcon builds with and without
    # --symlink-install (no package_dir mapping).
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        share("launch", "*.launch.py"),
        share("config", "*.yaml"),
        share("config", "*.npz"),
        share("urdf", "*.urdf"),
        share("models"),
        share("meshes/panda", "*"),
    ],
    install_requires=["setuptools"],
    # colcon test runs pytest for an ament_python package that names it here
    extras_require={"test": ["pytest"]},
    zip_safe=True,
    maintainer="dtd_ik developers",
    maintainer_email="dtd-ik@example.com",
    description="Learned inverse kinematics for the Franka Panda (DTD + uncertainty weighting), "
    "served to MoveIt over GetPositionIK",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "ik_server = dtd_ik.ros.server:main",
            "ik_client = dtd_ik.ros.client:main",
            "train = dtd_ik.training.commands.train:main",
            "evaluate = dtd_ik.training.commands.evaluate:main",
            "compare_strategies = dtd_ik.training.commands.compare_strategies:main",
            "generate_dataset = dtd_ik.training.commands.generate_dataset:main",
            "ship_model = dtd_ik.training.commands.ship_model:main",
            "results_report = dtd_ik.training.commands.results_report:main",
        ],
    },
)
