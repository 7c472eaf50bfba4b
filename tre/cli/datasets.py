"""`tre datasets ...`: the dataset catalogue."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from tre.cli.common import JsonFlag, err_console, node, print_json, print_table, when
from tre.cli.users import operator
from tre.db.datasets import Dataset, DatasetVersion
from tre.domain.values import DatasetRef
from tre.errors import InvalidInput, NotFound
from tre.imaging import ingest as ingestion
from tre.imaging.dcat import dcat_record
from tre.imaging.layout import QUALITY_JSON
from tre.imaging.pseudonyms import KEY_ENV, load_key
from tre.imaging.versions import VersionIntegrityError
from tre.services import catalogue
from tre.services.bootstrap import load_settings

app = typer.Typer(help="The dataset catalogue.", no_args_is_help=True)


@app.command()
def register(
    dataset: str,
    version: Annotated[str, typer.Option(help="Version id.")],
    path: Annotated[Path, typer.Option(help="Folder holding the published version.")],
    title: Annotated[str, typer.Option(help="Title for the catalogue.")] = "",
    data_holder: Annotated[str, typer.Option(help="Who holds the data.")] = "",
    synthetic: Annotated[bool, typer.Option(help="Synthetic (no real patient).")] = False,
) -> None:
    """Register an already published, immutable dataset version."""
    if not path.is_dir():
        raise InvalidInput(f"{path} is not a folder: give the folder of the published version")
    with node() as n:
        published = catalogue.register_version(
            n, operator(), Dataset(dataset, title, "", data_holder, synthetic, n.clock()),
            version, str(path.resolve()))
    typer.echo(f"dataset {published.dataset}@{published.version} registered")


def _doc(dataset: Dataset, versions: list[DatasetVersion]) -> dict[str, object]:
    return {"id": dataset.id, "title": dataset.title, "data_holder": dataset.data_holder,
            "synthetic": dataset.synthetic,
            "versions": [{"version": v.version, "path": v.path,
                          "created_at": v.created_at.isoformat()} for v in versions],
            "version": versions[0].version if versions else None,
            "path": versions[0].path if versions else None}


@app.command("list")
def list_(json_out: JsonFlag = False) -> None:
    """List datasets and their newest versions."""
    with node() as n:
        found = catalogue.list_datasets(n)
    if json_out:
        print_json([_doc(d, v) for d, v in found])
        return
    print_table("Datasets", ["id", "newest version", "published", "synthetic", "title"],
                [[d.id, v[0].version if v else "-", when(v[0].created_at) if v else "",
                  d.synthetic, d.title] for d, v in found])


@app.command()
def show(
    dataset: Annotated[str, typer.Argument(help="DATASET or DATASET@VERSION.")],
    json_out: JsonFlag = False,
    output_format: Annotated[str, typer.Option(
        "--format", help="text, json, or dcat (a Health DCAT-AP record in Turtle).")] = "text",
    base_uri: Annotated[str, typer.Option(
        help="Base URI of this node's catalogue, for --format dcat.")] = "https://tre.example/",
) -> None:
    """Show one dataset with its versions and their on-disk paths (or its DCAT-AP record)."""
    ref = DatasetRef.parse(dataset)
    if output_format not in ("text", "json", "dcat"):
        raise InvalidInput(f"unknown --format {output_format!r}: use text, json or dcat")
    with node() as n:
        found = {d.id: (d, v) for d, v in catalogue.list_datasets(n)}
    if ref.dataset not in found:
        raise NotFound(f"unknown dataset {ref.dataset!r}: `tre datasets list` lists the catalogue")
    entry, versions = found[ref.dataset]
    if output_format == "dcat":
        chosen = [v for v in versions if ref.version in (None, v.version)]
        if not chosen:
            raise NotFound(f"dataset {ref.dataset!r} has no version {ref.version!r}")
        quality_file = Path(chosen[0].path) / QUALITY_JSON
        quality = json.loads(quality_file.read_text()) if quality_file.is_file() else {}
        typer.echo(dcat_record(entry, chosen[0], quality, base_uri), nl=False)
        return
    doc = _doc(entry, versions)
    if json_out or output_format == "json":
        print_json(doc)
        return
    for key, value in doc.items():
        typer.echo(f"{key:>12}: {value}")


@app.command()
def ingest(
    src: Annotated[Path, typer.Argument(help="Folder or .zip of DICOM files (never modified).")],
    dataset: Annotated[str, typer.Option(help="Dataset id (a slug) to publish a version of.")],
    key_file: Annotated[Path | None, typer.Option(
        envvar=KEY_ENV, show_default=False,
        help="The data holder's pseudonym key (32+ random bytes, mode 600); never stored.")
    ] = None,
    clinical: Annotated[Path | None, typer.Option(
        help="Clinical CSV keyed by the original patient id (patient_id column).")] = None,
    jobs: Annotated[int, typer.Option(help="Processes to use (default: every core).")] = 0,
    allow_pixel_risk: Annotated[bool, typer.Option(
        help="Publish files at risk of burned-in identifiers instead of quarantining them.")
    ] = False,
    title: Annotated[str, typer.Option(help="Title for the catalogue.")] = "",
    data_holder: Annotated[str, typer.Option(help="Who holds the data.")] = "",
    json_out: JsonFlag = False,
) -> None:
    """De-identify DICOM (+ clinical CSV) into a new immutable dataset version."""
    key = load_key(key_file)
    settings = load_settings()
    request = ingestion.IngestRequest(
        source=src, dataset=dataset, key=key, clinical=clinical,
        jobs=jobs or os.cpu_count() or 1, allow_pixel_risk=allow_pixel_risk, title=title,
        data_holder=data_holder)
    with node() as n, Progress("[progress.description]{task.description}", BarColumn(),
                                MofNCompleteColumn(), TimeRemainingColumn(),
                                console=err_console, transient=True) as bar:
        task = bar.add_task("de-identifying", total=None)
        result = ingestion.ingest(n, settings.home, operator(), request,
                                  progress=lambda done, total: bar.update(
                                      task, completed=done, total=total))
    if json_out:
        print_json(result.as_json())
        return
    state = "already published" if result.already_published else "published"
    typer.echo(f"dataset {result.dataset}@{result.version} {state} at {result.path}")
    typer.echo(", ".join(f"{k} {v}" for k, v in result.counts.items()))
    for problem in result.problems:
        typer.echo(f"  {problem['status']}: {problem['source']}: {problem['reason']}")
    if result.quarantine:
        typer.echo(f"quarantined files for pixel review: {result.quarantine}")
    typer.echo(f"holder report (source paths, keep private): {result.holder_report}")


@app.command()
def verify(ref: Annotated[str, typer.Argument(help="DATASET or DATASET@VERSION.")],
           json_out: JsonFlag = False) -> None:
    """Re-hash a published version and report any change (exit 9 if anything changed)."""
    parsed = DatasetRef.parse(ref)
    settings = load_settings()
    with node() as n:
        result = ingestion.verify(n, settings.home, operator(), parsed.dataset, parsed.version)
    if json_out:
        print_json(result.as_json())
    else:
        typer.echo(f"{result.dataset}@{result.version}: {result.files} files, "
                   + ("intact" if result.intact else "CHANGED"))
        for kind in ("changed", "missing", "extra"):
            for path in getattr(result, kind):
                typer.echo(f"  {kind}: {path}")
    if not result.intact:
        raise VersionIntegrityError(
            f"{result.dataset}@{result.version} does not match its manifest: restore it from "
            "a backup or re-ingest; never edit a published version")
