#include <stdio.h>

int main(void) {
    puts("hello from a sandboxed build");
    return 0;
}
