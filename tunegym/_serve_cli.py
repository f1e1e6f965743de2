"""``tunegym serve``: the warm-start HTTP service (FastAPI app under uvicorn)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tunegym._cli_errors import fail, print_error
from tunegym.errors import install_command

err_console = Console(stderr=True)


def serve_command(
    host: Annotated[
        str, typer.Option(help="Interface to listen on (0.0.0.0 to serve other machines).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=0, max=65535)] = 8000,
    store: Annotated[
        str | None,
        typer.Option(
            help="Meta-store URL or SQLite file whose runs are served and where reported runs "
            "go (default: $TUNEGYM_METASTORE, else ~/.local/share/tunegym/metastore.sqlite)."
        ),
    ] = None,
    no_store: Annotated[
        bool, typer.Option("--no-store", help="Serve the snapshot only, read-only.")
    ] = False,
    snapshot: Annotated[
        bool,
        typer.Option(
            help="Also serve the shipped snapshots: meta-dataset v1 (lr x batch size, 144 "
            "datasets) and v2 (LCBench's 7 hyperparameters)."
        ),
    ] = True,
    snapshot_dir: Annotated[
        Path | None, typer.Option(help="A snapshot folder instead of the shipped ones.")
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="TUNEGYM_API_KEY",
            help="Key that POST /v1/runs requires (env TUNEGYM_API_KEY); without one, "
            "reporting runs is refused.",
            show_default=False,
        ),
    ] = None,
    read_key: Annotated[
        str | None,
        typer.Option(
            envvar="TUNEGYM_READ_KEY",
            help="Key the read routes, /openapi.json and /docs require too (env "
            "TUNEGYM_READ_KEY); default: open reads.",
            show_default=False,
        ),
    ] = None,
    openml_lookup: Annotated[
        bool,
        typer.Option(
            "--openml-lookup",
            help="Fetch OpenML's published qualities of OpenML ids the store does not know "
            "(extra openml; cached, and stored in the store).",
        ),
    ] = False,
    max_body_bytes: Annotated[
        int, typer.Option(help="Larger request bodies get a 413.", min=1024)
    ] = 1 << 20,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve warm starts over HTTP: configurations, a narrowed search space, reported runs.

    Routes (OpenAPI schema at /openapi.json, interactive docs at /docs, both behind the read
    key when there is one): GET /v1/health, POST /v1/warmstart, POST /v1/search-space,
    POST /v1/runs (needs --api-key; reported runs are served only to requests that set
    include_reported).
    """
    try:
        import uvicorn

        from tunegym.metastore import default_url
        from tunegym.service import WarmStartService, create_app
    except ImportError as exc:
        raise fail(err_console, f"{exc} ({install_command('service')})") from exc
    try:
        service = WarmStartService.open(
            None if no_store else (store or default_url()),
            snapshot=snapshot_dir if snapshot_dir is not None else snapshot,
            openml_lookup=openml_lookup,
        )
        app = create_app(service, api_key=api_key, read_key=read_key, max_body_bytes=max_body_bytes)
    except (ValueError, OSError) as exc:
        raise fail(err_console, exc) from exc
    health = service.health()
    docs = "/docs, read key needed" if read_key else "/docs"
    err_console.print(
        f"serving {health.datasets} datasets ({health.configurations} configurations; store "
        f"{health.store or 'none'}) on http://{host}:{port} (docs: {docs}); "
        f"reporting runs {'enabled' if api_key else 'disabled (no --api-key)'}",
        markup=False,
    )
    if health.store_error:
        print_error(err_console, health.store_error, "warning")
    uvicorn.run(app, host=host, port=port, log_level=log_level)
