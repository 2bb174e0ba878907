# agent.c + the exec/cp commands (owned by the agent work).
