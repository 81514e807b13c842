"""Teams: shared workspaces with members, roles, invitations and seat limits (seed 004)."""
