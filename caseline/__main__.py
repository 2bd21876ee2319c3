from caseline.cli import main

main()
