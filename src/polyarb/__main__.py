from polyarb.cli import main

main()
