"""Printing for the demos: quiet when a test calls run(verbose=False)."""


def reporter(verbose: bool):
    return (lambda *parts: print("  ", *parts)) if verbose else (lambda *parts: None)


def table(rows, columns, say) -> None:
    """Rows of dicts as an aligned text table; floats with 4 significant digits."""
    cells = [[c for c in columns]] + [[_cell(r[c]) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    for row in cells:
        say("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths))))


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.3e}"
    return str(value)
