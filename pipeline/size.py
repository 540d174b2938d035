"""`tlsfit size`: mbedTLS's share of an engineer's own firmware image, as a report diff and gate read.

size_image: ELF (+ map) -> report.json dict (kind "image"). Plain data in and out, no printing.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from measure.image_size import measure_image
from measure.figures import MBEDTLS_ARCHIVES
from pipeline.tree import SetupError, read_version
from reports.report import build_image_report


@dataclass(frozen=True)
class SizeRequest:
    elf: Path
    map_file: Path | None = None
    mbedtls_dir: Path | None = None        # the tree the image was compiled from (DWARF attribution)
    archives: tuple[str, ...] = MBEDTLS_ARCHIVES
    name: str = "firmware"                 # the report's profile name ([a-z0-9-]+)
    target: str = "image"                  # the report's target name
    heap_section: str = ".heap_arena"      # a reservation counted apart from static RAM, when the image has one
    stack_section: str = ".stack"


def size_image(request: SizeRequest, tlsfit_version: str) -> dict:
    figures = measure_image(request.elf, request.map_file, request.mbedtls_dir, request.archives,
                            request.heap_section, request.stack_section)
    version = "unknown"
    tree = figures.mbedtls_dir or request.mbedtls_dir
    if tree is not None:
        try:
            version = read_version(Path(tree))
        except SetupError:
            pass                           # the tree the debug info names is not on this machine
    return build_image_report(tlsfit_version=tlsfit_version, name=request.name, target=request.target,
                              machine=figures.machine, mbedtls_version=version, footprint=figures.footprint,
                              elf=str(request.elf), map_file=str(request.map_file) if request.map_file else None,
                              mbedtls_dir=figures.mbedtls_dir)
