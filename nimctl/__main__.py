from nimctl.cli.app import main

main()
