"""List the DICOM series under a folder (headers only) with the problems bonenet finds.

Prints one row per series: number, modality, description, orientation, slices, image size,
spacing (slice x row x column mm), problems, and the key to pass to ``bonenet.io.load(...,
series=KEY)``. Patient identifiers are not printed unless ``--show-patient`` is given.
"""

from __future__ import annotations

import argparse

HELP = "list the DICOM series in a folder (headers only) and the problems found"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="folder (searched recursively) or DICOM file")
    parser.add_argument("--csv", metavar="FILE", help="also write the table as CSV")
    parser.add_argument("--json", metavar="FILE", help="also write the series (with details) as JSON")
    parser.add_argument("--show-patient", action="store_true",
                        help="include PatientID (off by default: identifiers stay out of outputs)")
    parser.add_argument("--details", action="store_true", help="print each problem's explanation")


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def run(args: argparse.Namespace) -> int:
    import csv
    import io as _io
    import json

    from .._atomic import csv_safe, write_text_atomic
    from ..io import scan
    from ._outputs import output_file

    if args.csv:
        output_file(args.csv, option="--csv")
    if args.json:
        output_file(args.json, option="--json")

    infos = scan(args.path, with_patient=args.show_patient)
    header = ["#", "modality", "description", "orientation", "slices", "size", "spacing_mm",
              "problems", "key"]
    if args.show_patient:
        header.insert(1, "patient_id")
    rows = []
    for i in infos:
        row = [str(i.series_number if i.series_number is not None else "-"), i.modality or "-",
               (i.series_description or "-")[:28], i.orientation, str(i.n_slices),
               f"{i.rows}x{i.columns}",
               "-" if i.spacing is None else "x".join(f"{s:.3g}" for s in i.spacing),
               ",".join(i.problems) or "ok", i.key]
        if args.show_patient:
            row.insert(1, i.patient_id or "-")
        rows.append(row)
    print(_table(rows, header))
    n_files = sum(i.n_files for i in infos)
    n_ok = sum(1 for i in infos if not ({"not_image", "unreadable"} & set(i.problems)))
    print(f"\n{len(infos)} series ({n_ok} readable images) in {n_files} DICOM files under {args.path}")
    if args.details:
        for i in infos:
            for d in i.details:
                print(f"  series {i.series_number} ({i.key}): {d}")
    dict_rows = [i.as_row() for i in infos]
    if args.csv:
        buf = _io.StringIO()
        fields = list(dict_rows[0]) if dict_rows else header
        w = csv.DictWriter(buf, fieldnames=fields)
        w.writeheader()
        w.writerows({k: csv_safe(v) for k, v in r.items()} for r in dict_rows)
        write_text_atomic(args.csv, buf.getvalue())
        print(f"wrote {args.csv}")
    if args.json:
        payload = [{**r, "problems": i.problems, "details": i.details, "files": i.files,
                    "spacing": i.spacing, "image_type": list(i.image_type)}
                   for r, i in zip(dict_rows, infos, strict=True)]
        write_text_atomic(args.json, json.dumps(payload, indent=1, default=str))
        print(f"wrote {args.json}")
    return 0
