from nimctl.cli.entry import main

main()
