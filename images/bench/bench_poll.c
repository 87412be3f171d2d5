/*
 * bench_poll - busy-polling benchmark at the 12 MHz reset clock. SysTick
 * LOAD = 119999 (10 ms), VAL = 0, CTRL = 5 (processor clock, no interrupt,
 * enable); 100 times spin on CTRL.COUNTFLAG (a plain load/test/branch loop,
 * no stores; reading CTRL clears the flag), i.e. 1 s of simulated time
 * (12 M cycles), then prints "polled 1 s\n" and exits 0.
 */
#include "c071.h"
#include "semihost.h"

int main(void)
{
    SYST_LOAD = 119999;
    SYST_VAL = 0;
    SYST_CTRL = SYST_CTRL_HCLK | SYST_CTRL_ENABLE;
    for (int i = 0; i < 100; i++)
        while (!(SYST_CTRL & SYST_CTRL_COUNTFLAG))
            ;
    SYST_CTRL = 0;
    sh_write0("polled 1 s\n");
    return 0;
}
