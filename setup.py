import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent


def read_version() -> str:
    """``lucia_wsgi.__version__``, the one place the version is written (read as text: no import)."""
    source = (HERE / "lucia_wsgi" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', source, re.MULTILINE)
    if match is None:
        raise RuntimeError("lucia_wsgi/__init__.py has no __version__ line")
    return match.group(1)


setup(
    name="lucia_wsgi",
    version=read_version(),
    description="Lucia auth 0.3 sessions and users for any WSGI or ASGI application",
    long_description=(HERE / "README.rst").read_text(encoding="utf-8"),
    long_description_content_type="text/x-rst",
    license="MIT",  # the text: LICENSE (in the sdist and the wheel's metadata)
    license_files=["LICENSE"],
    keywords=["lucia", "auth", "authentication", "sessions", "cookies", "wsgi", "asgi", "middleware",
              "flask", "django", "fastapi", "scrypt"],
    project_urls={
        "Lucia (the JavaScript original)": "https://lucia-auth.com",
    },
    packages=find_packages(include=["lucia_wsgi", "lucia_wsgi.*"]),
    # Every file in lucia_wsgi/ that is not a module (tests/test_packaging.py checks).
    package_data={"lucia_wsgi": ["py.typed", "static/*.js"]},
    python_requires=">=3.10",
    install_requires=["WebOb>=1.8"],
    extras_require={
        "postgres": ["psycopg[binary]>=3.1", "psycopg_pool>=3.2"],
        "redis": ["redis>=5"],
        "bcrypt": ["bcrypt>=4"],
        "demo": ["waitress>=2.1", "uvicorn>=0.29"],  # uvicorn: demo_app.py --asgi
        "flask": ["Flask>=2.3"],
        "django": ["Django>=4.2"],
        # An ASGI server for LuciaASGIMiddleware apps (the middleware itself needs nothing).
        "asgi": ["uvicorn>=0.29"],
        "test": [
            "pytest>=7",
            "WebTest>=3",
            "aiosmtpd>=1.4",
            "hypothesis>=6",
            "ruff",
            "mypy",
            "waitress>=2.1",
            "gunicorn>=21",
            "playwright>=1.40",
            "psycopg[binary]>=3.1",
            "psycopg_pool>=3.2",
            "redis>=5",
            "bcrypt>=4",
            "Flask>=2.3",
            "Flask-Login>=0.6",
            "Beaker>=1.12",
            "Django>=4.2",
            "pyramid>=2",
            "uvicorn>=0.29",
            "httpx>=0.27",
            "starlette>=0.37",
            "fastapi>=0.110",
            "asgiref>=3.7",
            "matplotlib>=3.7",
            # .ci/wheel-check: build the sdist and wheel, check their metadata.
            "build>=1",
            "twine>=5",
        ],
        # The documentation (docs/): python -m sphinx -W --keep-going -b html docs docs/_build/html
        "docs": ["sphinx>=7.2", "furo>=2024.1"],
        "bench": ["Django>=4.2", "Flask>=2.3", "Flask-Login>=0.6", "Beaker>=1.12", "gunicorn>=21",
                  "psycopg[binary]>=3.1", "psycopg_pool>=3.2", "redis>=5", "matplotlib>=3.7"],
    },
    entry_points={"console_scripts": ["lucia-wsgi = lucia_wsgi.cli:main"]},
    # The Python versions are the ones CI runs (.ci/run, then .ci/other-pythons).
    classifiers=[
        "Development Status :: 3 - Alpha",
        "Intended Audience :: Developers",
        "Operating System :: OS Independent",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Framework :: Flask",
        "Framework :: Django",
        "Framework :: Pyramid",
        "Framework :: FastAPI",
        "Framework :: AsyncIO",
        "Topic :: Internet :: WWW/HTTP :: Session",
        "Topic :: Internet :: WWW/HTTP :: WSGI :: Middleware",
        "Topic :: Security",
        "Typing :: Typed",
    ],
)
