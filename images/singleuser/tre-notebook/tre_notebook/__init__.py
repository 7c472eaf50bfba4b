"""What tre installs into every single-user server: download blocking and the airlock client."""
