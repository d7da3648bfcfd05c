import sys

try:
    from .cli import main
except KeyboardInterrupt:
    # Ctrl-C while the command line is imported, before main() installs its handler.
    sys.stderr.write("hvload: stopped by SIGINT\n")
    sys.exit(130)

sys.exit(main())
