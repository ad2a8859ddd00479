"""List the pretrained weight files NOVA-3D can use, and fetch missing ones only when asked.

    python -m _scripts.weights [--only NAME] [--download [--mirror URL]]

For each file: its name, sha256, public address, every place it is looked for (in order) and
whether it is there. Nothing touches the network without --download; --download fetches only the
missing files, into the torch hub cache, and keeps a file only if its sha256 matches. --mirror
fetches <URL>/<file name> instead of the public address (an internal mirror or a file:// folder).
Exit status: 0, or 1 when --download could not get every selected file.
"""
from __future__ import annotations

import click

from training.metrics import weights


def _report(name: str) -> list[str]:
    w = weights.get(name)
    places = weights.lookup(name)
    found = next((p.path for p in places if p.status == "found"), None)
    lines = [f"{name}: {w.filename}  {'found ' + str(found) if found else 'MISSING'}",
             f"  {w.what}", f"  sha256 {w.sha256}", f"  url    {w.url}", "  looked in, in order:"]
    lines += [f"    {i}. {p}" for i, p in enumerate(places, 1)]
    return lines


@click.command(help=__doc__)
@click.option("--only", "only", multiple=True, type=click.Choice(sorted(weights.REGISTRY)),
              help="Only this file (repeatable).")
@click.option("--download", is_flag=True, help="Fetch the missing files, verifying their sha256.")
@click.option("--mirror", default=None, metavar="URL",
              help="With --download: fetch <URL>/<file name> instead of the public address.")
def main(only: tuple[str, ...], download: bool, mirror: str | None) -> None:
    if mirror and not download:
        raise click.UsageError("--mirror needs --download")
    names = list(only) or list(weights.REGISTRY)
    failed = 0
    for name in names:
        if download and weights.resolve(name) is None:
            w = weights.get(name)
            url = f"{mirror.rstrip('/')}/{w.filename}" if mirror else None
            try:
                path = weights.download(name, url_override=url, progress=True)
                click.echo(f"{name}: downloaded to {path}")
            except weights.WeightsError as exc:
                click.echo(f"{name}: {exc}", err=True)
                failed += 1
        click.echo("\n".join(_report(name)))
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
