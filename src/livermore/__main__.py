from livermore.cli.app import run

run()
