/* The CGI floor for the benchmark: a C program that prints healthcheck's
 * exact success answer and exits. */
#include <stdio.h>

int main(void) {
  fputs("Status: 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
        "Vary: Accept, Authorization\r\nContent-Length: 75\r\n\r\n"
        "{\"status\":\"success\",\"error\":\"\",\"data\":{},\"pagination\":{},\"input_errors\":{}}",
        stdout);
  return 0;
}
