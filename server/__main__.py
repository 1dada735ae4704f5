"""Command line: ``python -m server {serve,migrate,seed-demo,create-user,backup,build-static}``."""

from __future__ import annotations

import argparse
import getpass
import sys

from server.cli import commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server", description="民情通 Minqing")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="migrate, then serve the app")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--seed-demo", action="store_true", help="load demo data when the database is empty")
    sub.add_parser("migrate", help="bring the database schema up to date")
    sub.add_parser("seed-demo", help="load the Chongyang demo data (idempotent)")
    user = sub.add_parser("create-user", help="add a user (password from stdin or prompt)")
    user.add_argument("username")
    user.add_argument("--role", required=True, choices=["cadre", "leader", "supervisor", "admin"])
    user.add_argument("--unit", required=True, help="org unit name or code")
    user.add_argument("--name", default=None, help="display name")
    backup = sub.add_parser("backup", help="online backup of the SQLite database")
    backup.add_argument("path")
    sub.add_parser("build-static", help="copy pinned npm libraries into static/vendor and make icons")
    scan = sub.add_parser("integrity-scan", help="(re)run the integrity checks on visits and check-ins of a period")
    scan.add_argument("--from", dest="first", required=True, help="first day, YYYY-MM-DD (Asia/Shanghai)")
    scan.add_argument("--to", dest="last", required=True, help="last day, YYYY-MM-DD (inclusive)")
    args = parser.parse_args(argv)

    if args.command == "serve":
        return commands.serve(args.host, args.port, args.workers, args.seed_demo)
    if args.command == "migrate":
        return commands.migrate()
    if args.command == "seed-demo":
        return commands.seed_demo()
    if args.command == "create-user":
        password = getpass.getpass("密码：") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
        return commands.create_user(args.username, args.role, args.unit, args.name, password)
    if args.command == "backup":
        return commands.backup(args.path)
    if args.command == "build-static":
        return commands.build_static()
    if args.command == "integrity-scan":
        return commands.integrity_scan(args.first, args.last)
    return 2


if __name__ == "__main__":
    sys.exit(main())
