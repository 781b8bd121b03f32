from setuptools import find_packages, setup

setup(
    name="agiflow",
    version="0.1.0",
    description="YAML call flows for Asterisk, served over FastAGI, with CDRs in SQLite",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="GPL-3.0-or-later",
    python_requires=">=3.11",
    packages=find_packages(include=["agi", "agi.*"]),
    package_data={"agi.data": ["*.txt"]},
    install_requires=[
        "Twisted[tls]>=24.3",
        "pyst2>=0.5",
        "sqlite-utils>=3.36",
        "PyYAML>=6.0",
        "Jinja2>=3.1",
        "click>=8.1",
        "jsonschema>=4.20",
        "phonenumbers>=8.13",
        "holidays>=0.50",
        "tzdata",
        "prometheus-client>=0.20",
    ],
    extras_require={"test": ["pytest>=8", "hypothesis>=6.100", "mypy>=1.10", "mypy-zope>=1.0", "Pillow>=10"]},
    entry_points={"console_scripts": ["agiflow=agi.cli.main:main",
                                    "agiflow-agi=agi.stdio.main:entry_point"]},
)
