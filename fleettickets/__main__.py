from fleettickets.cli import main

main()
