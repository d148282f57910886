from structid.cli import main

main()
