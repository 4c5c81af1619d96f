from blockprov.cli.main import main

raise SystemExit(main())
