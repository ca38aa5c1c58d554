set terminal pngcairo size 1000,500 font 'DejaVu Sans,10'
set output 'b.png'
set multiplot layout 1,2 title 'b: 10 ms round trip, 50 MB/s per connection, 1024 MiB object'
set logscale x 2
set xrange [0.8:40]
set xtics (1,2,4,8,16,32)
set grid
set key below font ',9' maxrows 3
set xlabel 'workers'
set ylabel 'MB/s (median)'
set yrange [0:*]
plot 'b.dat' using 1:2 with linespoints lw 2 pt 7 lc rgb '#1f77b4' title 'aisfetch', \
     'b.dat' using 1:3 with linespoints lw 2 pt 5 lc rgb '#ff7f0e' title 'aissrc ! fakesink', \
     50.5875 with lines dt 2 lw 2 lc rgb '#888888' title 'curl (1 stream)', \
     705.201 with lines dt 2 lw 2 lc rgb '#d62728' title 'aria2c -x16 -s16', \
     50.4848 with lines dt 2 lw 2 lc rgb '#2ca02c' title 'souphttpsrc ! fakesink', \
     284.364 with lines dt 2 lw 2 lc rgb '#9467bd' title 'SDK model, 16 workers', \
     1791.38 with lines dt 4 lw 1 lc rgb 'black' title 'the link ceiling (no delay)', \
     x*50 with lines dt 3 lc rgb 'black' title 'ideal: workers x 50 MB/s'
set ylabel 'CPU seconds per GB (process tree)'
plot 'b.dat' using 1:4 with linespoints lw 2 pt 7 lc rgb '#1f77b4' title 'aisfetch', \
     'b.dat' using 1:5 with linespoints lw 2 pt 5 lc rgb '#ff7f0e' title 'aissrc ! fakesink', \
     0.623084 with lines dt 2 lw 2 lc rgb '#888888' title 'curl (1 stream)', \
     0.902665 with lines dt 2 lw 2 lc rgb '#d62728' title 'aria2c -x16 -s16', \
     1.26639 with lines dt 2 lw 2 lc rgb '#2ca02c' title 'souphttpsrc ! fakesink', \
     5.26731 with lines dt 2 lw 2 lc rgb '#9467bd' title 'SDK model, 16 workers'
unset multiplot
