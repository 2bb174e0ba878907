# The guest agent: exec (agent.c), files and copies (agent-files.c), replies (agent-json.c), the exec/cp commands.
libvmm_a_SOURCES += vmm/agent.c vmm/agent.h vmm/agent-files.c vmm/agent-private.h vmm/agent-json.c vmm/agent-json.h \
	vmm/escape.c vmm/escape.h
airlock_SOURCES += vmm/cli/exec.c

check_PROGRAMS += tests/unit/test-agent
tests_unit_test_agent_SOURCES = tests/unit/test-agent.c
tests_unit_test_agent_LDADD = $(TEST_LDADD)
TESTS += tests/unit/test-agent

check_PROGRAMS += tests/unit/test-agent-copy
tests_unit_test_agent_copy_SOURCES = tests/unit/test-agent-copy.c
tests_unit_test_agent_copy_LDADD = $(TEST_LDADD)
TESTS += tests/unit/test-agent-copy
