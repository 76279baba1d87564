from nimctl.cli import main

main()
