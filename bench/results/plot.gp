set terminal pngcairo size 1600,1000 font "sans,11"
set output "/tmp/rep-chk.png"
set datafile missing "-"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set grid ytics mytics
set key outside top center horizontal
set multiplot layout 2,1 title "vpngw bench rep-chk: 2 cores, kernel 6.18.44-fc-v669, tunnel MTU 1400"
set title "TCP throughput (iperf3, 10 s per run)"
set ylabel "Mbit/s (log scale)"
set yrange [10:*]
plot for [i=2:5] "bench/results/thr.dat" using i:xtic(1) title columnheader(i)
set title "ping RTT to the internet host (ping -i 0.01): idle, during the 1-stream upload and download, under the 200 Mbit/s bottleneck, and client 2's while client 1 loads vpngw"
set ylabel "ms (log scale)"
set yrange [0.01:*]
unset key
plot for [i=2:5] "bench/results/lat.dat" using i:xtic(1) title columnheader(i)
unset multiplot
