"""planflow driven from inside the coding agents: ``planflow mcp`` (an MCP server whose tools
validate, schedule, start, watch and cancel runs) and ``planflow install-commands`` (the agents'
own slash-command files and MCP configuration entries).

    cli.py       the two subcommands
    server.py    the MCP server: tools, the run-status resource, errors as tool errors
    confine.py   tool arguments' paths, kept inside the server's repository
    jobs.py      the runs the tools start: command line and flow parameters from one model
    launch.py    starting a run: the ``execute-plan`` (or authoring) deployment, else a
                 detached local ``planflow`` process; the launch record
    watch.py     a started run's status and its cancellation
    prefect_api.py  the few Prefect server calls the launcher makes
    install.py   ``install-commands``: files and config entries, never overwriting
    commands.py  the text of the four commands, per agent
"""
