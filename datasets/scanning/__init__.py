"""The content scan: looks through a submission's text files for personal data before
anyone may publish them. rules.py holds every rule; detect.py runs them over a buffer;
formats.py places hits in CSV columns, JSON keys or lines; scanner.py streams files,
folders and archives; findings.py adds hits up. Only masked examples ever leave it."""

from .findings import finding_line, findings_quote, findings_summary
from .lab_patterns import UnsafePattern, compile_lab_pattern
from .rules import KIND_LABELS, KINDS
from .scanner import (
    Scan,
    ScanResult,
    apply_hashes,
    changed_files,
    estimate_read_bytes,
    estimate_scan_bytes,
    gaps,
    human_size,
)

__all__ = [
    "KINDS",
    "KIND_LABELS",
    "Scan",
    "ScanResult",
    "UnsafePattern",
    "apply_hashes",
    "changed_files",
    "compile_lab_pattern",
    "estimate_read_bytes",
    "estimate_scan_bytes",
    "finding_line",
    "findings_quote",
    "findings_summary",
    "gaps",
    "human_size",
]
