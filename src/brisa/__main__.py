from brisa.cli.entry import main

main()
