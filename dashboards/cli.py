"""`erpbi dashboards ...`: put the screens into Superset, and look at them as a viewer does."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from common.settings import Settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="erpbi dashboards", description=__doc__)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser(
        "provision", help="create or update the connection, datasets, charts and screens"
    )
    export = actions.add_parser(
        "export",
        help="write the screens as edited in Superset into the repo (Superset's asset bundle)",
    )
    export.add_argument("--out", type=Path, default=None,
                        help="bundle folder (default: dashboards/assets/bundle)")  # fmt: skip
    check = actions.add_parser(
        "check",
        help="open every screen in headless Chromium at 1920x1080 and save screenshots",
    )
    check.add_argument("slugs", nargs="*", help="only these screens (default: all)")
    check.add_argument("--out", type=Path, default=None,
                       help="screenshot folder (default: <run>/artifacts/screens)")  # fmt: skip
    return parser


def main(settings: Settings, argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    if args.action == "provision":
        from dashboards.provision import provision

        result = provision(settings)
        screens = ", ".join(result.dashboard_ids)
        print(f"{len(result.dataset_ids)} datasets, {len(result.chart_ids)} charts, "
              f"{len(result.dashboard_ids)} screens: {screens}")  # fmt: skip
        if result.access:
            access = result.access
            print(f"店铺负责人: {len(access.logins)} 个登录 ({', '.join(access.logins) or '无'}), "
                  f"行级权限覆盖 {len(access.shop_datasets)} 个数据集")  # fmt: skip
            if access.without_password:
                print(f"  未配置密码、未建登录: {', '.join(access.without_password)} "
                      "(在 clickhouse.shop_owners 中配置)")  # fmt: skip
            if access.deactivated:
                print(f"  已停用(不在店铺表中): {', '.join(access.deactivated)}")
        return 0
    if args.action == "export":
        return _export(settings, args.out)
    out = args.out or settings.paths.run_dir / "artifacts" / "screens"
    return _check(settings, args.slugs, out)


def _export(settings: Settings, out: Path | None) -> int:
    from dashboards.bundle import BUNDLE_DIR, export_bundle
    from dashboards.superset_client import SupersetClient

    folder = out or BUNDLE_DIR
    bundle = export_bundle(SupersetClient.login(settings.superset), folder)
    problems = bundle.unresolved()
    kinds = ", ".join(
        f"{len(bundle.of_kind(kind))} {kind}"
        for kind in ("dashboards", "charts", "datasets", "databases", "themes")
    )
    print(f"exported {kinds} to {folder}")  # fmt: skip
    print(
        "`erpbi dashboards provision` now imports these screens from the bundle; "
        "commit the folder to keep them"
    )
    for problem in problems:
        print(f"  unresolved: {problem}")
    return 1 if problems else 0


def _check(settings: Settings, slugs: list[str], out: Path) -> int:
    """Exit 1 when a screen has an error, an empty chart, a scroll bar or a blank picture."""
    from dashboards import wall_check
    from dashboards.assets_spec import load_assets

    superset = settings.superset
    failed = 0
    with wall_check.headless_chromium() as driver:
        wall_check.log_in(driver, superset.url, superset.admin_user,
                          superset.admin_password.get_secret_value())  # fmt: skip
        for board in load_assets().dashboards:
            if slugs and board.slug not in slugs:
                continue
            report = wall_check.open_screen(driver, superset.url, board.slug, len(board.charts))
            path = wall_check.save(report, out, board.slug)
            problems = report.problems(len(board.charts))
            failed += bool(problems)
            verdict = "; ".join(problems) or "ok"
            print(f"{board.title:<10} {report.charts:>2} 图 {report.seconds_to_render:5.1f} s  "
                  f"{verdict}  {path}")  # fmt: skip
    return 1 if failed else 0
