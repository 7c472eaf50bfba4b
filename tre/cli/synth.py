"""`tre synth`: write a synthetic CT corpus, or a synthetic twin of a published version."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from tre.cli.common import node
from tre.db import datasets as dataset_store
from tre.domain.values import DatasetRef
from tre.imaging.synth import SynthResult, generate, generate_from_plan
from tre.imaging.synth_like import profile


def _version_folder(like: str) -> Path:
    """A published version folder, given as a path or as ``DATASET[@VERSION]`` in the catalogue."""
    path = Path(like)
    if path.is_dir():
        return path
    ref = DatasetRef.parse(like)
    with node() as n, n.db.transaction() as session:
        pinned = dataset_store.resolve(session, ref)
        found = next(v for v in dataset_store.versions(session, pinned.dataset)
                     if v.version == pinned.version)
    return Path(found.path)


def synth(
    out: Annotated[Path, typer.Argument(help="New (or empty) folder to write the corpus to.")],
    patients: Annotated[int, typer.Option(help="Number of patients.")] = 10,
    studies: Annotated[int, typer.Option(help="Studies per patient.")] = 1,
    series: Annotated[int, typer.Option(help="Series per study.")] = 1,
    slices: Annotated[int, typer.Option(help="Slices per series.")] = 100,
    size: Annotated[int, typer.Option(help="Rows and columns of every slice.")] = 512,
    seed: Annotated[int, typer.Option(help="Same seed, same bytes.")] = 0,
    like: Annotated[str | None, typer.Option(
        help="Make a synthetic twin of a published version: its folder or DATASET[@VERSION]; "
             "the counts and --size then come from it.", show_default=False)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Synthetic CT studies with realistic identifying headers, lesion masks and a clinical CSV."""
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), disable=quiet, transient=True) as bar:
        task = bar.add_task("writing slices", total=None)

        def advance(done: int, total: int) -> None:
            if done % 16 == 0 or done == total:
                bar.update(task, completed=done, total=total)

        result: SynthResult
        if like is None:
            result = generate(out, patients=patients, studies=studies, series=series,
                              slices=slices, size=size, seed=seed, progress=advance)
        else:
            result = generate_from_plan(out, profile(_version_folder(like)), seed=seed,
                                        progress=advance)
    twin = f" (synthetic twin of {like})" if like else ""
    typer.echo(f"wrote {result.patients} patients, {result.studies} studies, {result.series} "
               f"series, {result.instances} slices to {out}{twin}")
