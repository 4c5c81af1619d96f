from blockprov.cli import main

raise SystemExit(main())
