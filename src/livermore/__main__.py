from livermore.cli import app

app(prog_name="livermore")
