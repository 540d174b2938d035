/*
 * main.c - the one main() of every port: bring the board up, run the
 * harness, report the exit code through the board.
 */
#include "tlsfit_harness.h"
#include "tlsfit_port.h"

int main(int argc, char **argv)
{
    int code = TLSFIT_EXIT_SETUP;
    if (tlsfit_board_init(argc, argv) == 0) {
        code = tlsfit_harness_run();
    }
    tlsfit_board_exit(code);
    return code;
}
