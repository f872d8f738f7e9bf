"""Adding up hits into findings: one per file, place (column, JSON key, or lines of
text) and kind, with a count and at most three masked examples. Memory stays bounded
whatever a file holds: examples, line numbers and findings are capped."""

from dataclasses import dataclass, field

from . import rules

MAX_EXAMPLES = 3
MAX_LINES = 5
MAX_FINDINGS = 500


@dataclass
class _Group:
    count: int = 0
    examples: list = field(default_factory=list)
    lines: list = field(default_factory=list)
    # Unformatted digit runs (see detect.Hit.gated): how many, how many looked like cards.
    gate_total: int = 0
    gate_ok: int = 0
    gate_examples: list = field(default_factory=list)
    gate_lines: list = field(default_factory=list)
    tries: int = 0


def _add_example(examples: list, example: str) -> None:
    if example and len(examples) < MAX_EXAMPLES and example not in examples:
        examples.append(example)


def _collect(group: "_Group", examples: list, hit) -> None:
    # Masking costs more than finding: only until three differ (or twenty were tried).
    if len(examples) < MAX_EXAMPLES and group.tries < 20:
        group.tries += 1
        _add_example(examples, hit.example)


def location_text(where: tuple) -> str:
    what, name = where
    if what == "column":
        return f'column "{name}"' if isinstance(name, str) else f"column {name}"
    if what == "key":
        return f'key "{name}"'
    if what == "header":
        return "header row"
    return "whole file"


class Findings:
    def __init__(self):
        self._groups: dict[tuple, _Group] = {}
        self.omitted = 0

    def _group(self, file: str, where: tuple, kind: str, label: str) -> _Group | None:
        key = (file, where, kind, label)
        group = self._groups.get(key)
        if group is None:
            if len(self._groups) >= MAX_FINDINGS:
                self.omitted += 1
                return None
            group = self._groups[key] = _Group()
        return group

    def add(self, file: str, where: tuple, hit, line: int | None = None) -> None:
        group = self._group(file, where, hit.kind, hit.label)
        if group is None:
            return
        if hit.gated:
            group.gate_total += 1
            if hit.ok:
                group.gate_ok += 1
                _collect(group, group.gate_examples, hit)
                if line is not None and len(group.gate_lines) < MAX_LINES:
                    group.gate_lines.append(line)
            return
        group.count += 1
        _collect(group, group.examples, hit)
        if line is not None and len(group.lines) < MAX_LINES and line not in group.lines:
            group.lines.append(line)

    def add_count(self, file, where, kind, count, examples, label="") -> None:
        group = self._group(file, where, kind, label)
        if group is not None:
            group.count += count
            for example in examples:
                _add_example(group.examples, example)

    def result(self) -> list[dict]:
        out = []
        for (file, where, kind, label), group in self._groups.items():
            count, examples, lines = group.count, list(group.examples), list(group.lines)
            # Digit runs count as card numbers only where most of them pass the checks.
            if group.gate_ok and group.gate_ok * 2 >= group.gate_total:
                count += group.gate_ok
                for example in group.gate_examples:
                    _add_example(examples, example)
                lines = sorted(set(lines + group.gate_lines))[:MAX_LINES]
            if not count:
                continue
            if where[0] == "lines" and lines:
                more = count - len(lines)
                location = f"line{'s' if count > 1 else ''} {', '.join(map(str, lines))}"
                location += f" and {more} more" if more > 0 else ""
            else:
                location = location_text(where)
            out.append(
                {
                    "file": file,
                    "location": location,
                    "kind": kind,
                    "label": label or rules.KIND_LABELS[kind],
                    "count": count,
                    "examples": examples,
                }
            )
        return out


def finding_line(finding: dict) -> str:
    """One line a person reads: where, what, how many, and the masked examples."""
    examples = ", ".join(finding.get("examples") or [])
    label = finding.get("label") or rules.KIND_LABELS.get(finding["kind"], finding["kind"])
    if finding["kind"] == "lab_pattern":
        label = f"lab pattern “{label}”"
    tail = f" (e.g. {examples})" if examples else ""
    return f"{finding['file']}, {finding['location']}: {label} ×{finding['count']}{tail}"


def findings_quote(findings: list[dict], limit: int = 15) -> str:
    """The findings as a note to the researcher (the return form starts with it)."""
    lines = [f"- {finding_line(f)}" for f in findings[:limit]]
    if len(findings) > limit:
        lines.append(f"- … and {len(findings) - limit} more")
    return (
        "The content scan found possible personal data:\n"
        + "\n".join(lines)
        + "\nPlease remove or anonymise it (or tell us why it may be published) and submit again."
    )


def findings_summary(findings: list[dict]) -> dict:
    """Counts by kind, for the history: never an example."""
    by_kind: dict[str, int] = {}
    for finding in findings:
        by_kind[finding["kind"]] = by_kind.get(finding["kind"], 0) + finding["count"]
    return by_kind
