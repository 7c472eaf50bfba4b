"""Project workspaces: one pure spec per (permit, user, profile), rendered by sandbox backends."""
