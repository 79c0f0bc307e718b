"""Headless subcommands, one module each: `add_parser(subparsers)` registers, `run(args)` works."""
