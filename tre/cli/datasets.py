"""`tre datasets ...`: the dataset catalogue."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tre.cli.common import JsonFlag, node, print_json, print_table, when
from tre.cli.users import operator
from tre.db.datasets import Dataset, DatasetVersion
from tre.errors import InvalidInput, NotFound
from tre.services import catalogue

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
def show(dataset: str, json_out: JsonFlag = False) -> None:
    """Show one dataset with its versions and their on-disk paths."""
    with node() as n:
        found = {d.id: (d, v) for d, v in catalogue.list_datasets(n)}
    if dataset not in found:
        raise NotFound(f"unknown dataset {dataset!r}: `tre datasets list` lists the catalogue")
    doc = _doc(*found[dataset])
    if json_out:
        print_json(doc)
        return
    for key, value in doc.items():
        typer.echo(f"{key:>12}: {value}")
