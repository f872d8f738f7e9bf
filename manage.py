#!/usr/bin/env python
"""Django's command-line utility. Defaults to the demo settings (what `make run` uses)."""

import os
import sys


def main():
    # The instance `make run` started from this folder (var/instance.env): its ports.
    from portal import instance

    instance.load()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.demo")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
