from voxbase.cli import app

app()
